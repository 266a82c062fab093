"""One file per revision; 0001_initial creates every table of the first release."""

from netaudit.audit.cli import main

main()

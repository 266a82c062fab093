from netaudit.collector.cli import main

main()

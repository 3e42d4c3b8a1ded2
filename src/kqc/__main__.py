from kqc.cli import main

main()

from homage.cli.main import main

main()

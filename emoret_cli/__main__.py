from emoret_cli.main import main

main()

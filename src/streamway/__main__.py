from streamway.cli import main

main()

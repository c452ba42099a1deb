from gradkit.cli import main

main()

from pruning_lightning.main import main

if __name__ == "__main__":
    main()

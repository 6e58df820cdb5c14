from t3000gql.cli import main

if __name__ == "__main__":
    raise SystemExit(main())

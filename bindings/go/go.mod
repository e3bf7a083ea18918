module example.invalid/airlock

go 1.19

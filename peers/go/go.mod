module chanbench/peers/go

go 1.19

module chanbench/peers/goplugin

go 1.19

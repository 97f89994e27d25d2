module secureecho/bench/go-echo

go 1.19

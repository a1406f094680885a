package main

import "syscall"

type syscallRusage struct{ syscall.Rusage }

func getrusage(r *syscallRusage) { syscall.Getrusage(syscall.RUSAGE_SELF, &r.Rusage) }

// seconds is user plus system CPU time.
func (r *syscallRusage) seconds() float64 {
	return float64(r.Utime.Sec+r.Stime.Sec) + float64(r.Utime.Usec+r.Stime.Usec)/1e6
}

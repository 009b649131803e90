# Plots of perf/bench.sh: gnuplot -e "work='DIR'; out='DIR'" perf/plot.gp
# Inputs, made by bench.sh in its work directory:
#   cdf_ref.dat, cdf_latch.dat  latency (us), cumulative fraction
#   sweep.dat                   offered ACQUIREs/s, answers/s, p99 (us)
set terminal pngcairo size 900,560 noenhanced
set grid

set output out.'/latency-cdf.png'
set title 'Round-trip latency CDF, 1 request outstanding per queue'
set xlabel 'latency (us, log scale)'
set ylabel 'fraction of requests at or below'
set logscale x
set yrange [0:1.02]
set key bottom right
plot work.'/cdf_ref.dat' using 1:2 with steps lw 2 \
	title 'reference: testpmd macswap (echo)', \
     work.'/cdf_latch.dat' using 1:2 with steps lw 2 \
	title 'latchd: ACQUIRE / RELEASE'

set output out.'/throughput.png'
set title 'latchd, open loop (Poisson): goodput and p99 vs offered load'
unset logscale x
set xlabel 'offered ACQUIREs per second'
set ylabel 'answers per second'
set y2label 'p99 latency (us, log scale)'
set logscale y2
set y2tics
set ytics nomirror
set yrange [0:*]
set key top left
plot work.'/sweep.dat' using 1:2 with linespoints lw 2 \
	title 'goodput (answers/s)', \
     work.'/sweep.dat' using 1:3 axes x1y2 with linespoints lw 2 \
	title 'p99 (us)'

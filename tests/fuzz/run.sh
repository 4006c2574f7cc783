#!/bin/sh
# run.sh - run libFuzzer targets for a set time each and print what they did.
#
#     tests/fuzz/run.sh BUILD_DIR SECONDS TARGET...
#
# Each target fuzzes a scratch copy of tests/fuzz/corpus/<target> in
# BUILD_DIR/fuzz/run/<target>, with tests/fuzz/<target>.dict if there is
# one (new inputs it finds stay there; copy the
# interesting ones back by hand). A crash leaves BUILD_DIR/fuzz/run/<target>-crash-*
# and makes the exit status 1. One line per target: executions, seconds,
# coverage (cov: edges, ft: features) and the corpus size at the end.
set -u
b=$1 secs=$2
shift 2
status=0
printf '%-16s %12s %6s %8s %8s %7s %s\n' target execs secs cov ft corpus result
for n in "$@"; do
	dir=$b/fuzz/run/$n
	log=$b/fuzz/run/$n.log
	rm -rf "$dir"
	mkdir -p "$dir"
	cp tests/fuzz/corpus/"$n"/* "$dir"/ 2>/dev/null
	dict=
	[ -f tests/fuzz/"$n".dict ] && dict=-dict=tests/fuzz/"$n".dict
	# fuzz_http: magsd's own warnings would drown the fuzzer's output
	# (-close_fd_mask=2; crash reports still show, the target's own
	# message about a broken invariant does not: replay the input)
	quiet=
	[ "$n" = http ] && quiet=-close_fd_mask=2
	"$b"/fuzz/fuzz_"$n" -max_total_time="$secs" -print_final_stats=1 -timeout=20 \
		-rss_limit_mb=4096 $quiet \
		-artifact_prefix="$b/fuzz/run/$n-" $dict "$dir" >"$log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	took=$(sed -n 's/^stat::.*//; s/.*Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log")
	last=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -1)
	cov=$(echo "$last" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
	ft=$(echo "$last" | sed -n 's/.*ft: \([0-9]*\).*/\1/p')
	corp=$(ls "$dir" | wc -l)
	if [ $rc -eq 0 ]; then res=ok; else res="FAILED (rc $rc, see $log)"; status=1; fi
	printf '%-16s %12s %6s %8s %8s %7s %s\n' "$n" "${execs:-?}" "${took:-$secs}" \
		"${cov:-?}" "${ft:-?}" "$corp" "$res"
done
exit $status

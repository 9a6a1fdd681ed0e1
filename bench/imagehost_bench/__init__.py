"""imagehost's performance benchmark (run it with bench/run).

__main__    flags, the order of things, the report's frame
scenarios   S1-S5: the loads, imagehost and the ceiling in alternation, what each run used
ceiling     the ceiling nginx: what nginx alone does on this machine (ceiling.conf.template)
wrk         one wrk run with load.lua, and its result
fill        rows straight into the index (and files) for the listing and start-up scenarios
startup     the supervisor's start-up time on a big index
machine     /proc: the machine's description, CPU time and peak RSS of processes
report      medians, ratios, targets, Markdown tables
"""

#!/usr/bin/env python3
"""Writes estimates.csv from criterion's output of `--bench controllers`.

Usage: python3 estimates_csv.py <criterion dir> <bench stdout+stderr log> > estimates.csv
(<criterion dir> = $CARGO_TARGET_DIR/criterion; the log gives the case order and each
case's recorded writes, printed by the bench before it measures the case.)
"""
import json, os, re, sys

crit, log = sys.argv[1], open(sys.argv[2]).read()
pat = r'^([a-z_]+/\S+): \d+ creates, \d+ updates, \d+ deletes, \d+ events; (.*)$'
print("case,mean_ns,mean_lo_ns,mean_hi_ns,median_ns,median_lo_ns,median_hi_ns,std_dev_ns,writes_recorded")
for m in re.finditer(pat, log, re.M):
    case, writes = m.group(1), m.group(2).strip() or "nothing"
    d = os.path.join(crit, case.replace('/', '_'), 'new')
    assert json.load(open(os.path.join(d, 'benchmark.json')))['full_id'] == case
    e = json.load(open(os.path.join(d, 'estimates.json')))
    v = []
    for s in ('mean', 'median'):
        ci = e[s]['confidence_interval']
        v += [e[s]['point_estimate'], ci['lower_bound'], ci['upper_bound']]
    v.append(e['std_dev']['point_estimate'])
    print(','.join([case] + ['%.0f' % x for x in v] + ['"%s"' % writes]))

-- SPDX-License-Identifier: BSD-3-Clause
--
-- perf/pktgen/latch.lua: replay a gen-pcap file of latch requests into
-- latchd at a chosen rate, with pktgen's latency probes alongside
-- (docs/benchmarks.md, "Driving latchd with pktgen").
--
-- pktgen-dpdk loads the pcap itself (-s P:file.pcap on its command line);
-- this script only switches the port to the pcap, sets the rate, turns the
-- latency probes on, runs for a while and prints the counters. latchd
-- reflects the probes (UDP to port 1028) when its profile says
-- workers.pktgen_reflect = yes, so pktgen's latency page shows the round
-- trip through the same worker loop that serves the locks.
--
-- Run: pktgen ... -- -P -m "[1:1].0" -s 0:/tmp/latch.pcap -f perf/pktgen/latch.lua
-- Environment (all optional):
--   LATCH_PG_PORT        pktgen port (default "0")
--   LATCH_PG_RATE        percent of line rate (default 10)
--   LATCH_PG_SECONDS     seconds of load (default 10)
--   LATCH_PG_LAT_US      microseconds between latency probes (default 1000)
--   LATCH_PG_QUIT        "1": quit pktgen at the end (default: stay, so
--                        the pages can be looked at)

package.path = package.path .. ";?.lua;test/?.lua;app/?.lua;../?.lua"
require "Pktgen"

local port = os.getenv("LATCH_PG_PORT") or "0"
local rate = tonumber(os.getenv("LATCH_PG_RATE") or "10")
local seconds = tonumber(os.getenv("LATCH_PG_SECONDS") or "10")
local lat_us = tonumber(os.getenv("LATCH_PG_LAT_US") or "1000")

-- Print a table of counters, one "name value" per line, sorted by name.
local function show(title, t)
	print(title)
	if type(t) ~= "table" then
		print("  (none)")
		return
	end
	local names = {}
	for k, _ in pairs(t) do
		names[#names + 1] = tostring(k)
	end
	table.sort(names)
	for _, k in ipairs(names) do
		local v = t[k] or t[tonumber(k)]
		if type(v) == "table" then
			show("  " .. k .. ":", v)
		else
			print(string.format("  %-24s %s", k, tostring(v)))
		end
	end
end

pktgen.stop(port)
pktgen.clr()
-- Send the frames of the pcap given with -s, in a loop, at the rate.
pktgen.pcap(port, "on")
pktgen.set(port, "rate", rate)
pktgen.set(port, "count", 0) -- 0: until stopped
-- Probes: pktgen's own UDP frames to port 1028, timestamped in the payload.
pktgen.latency(port, "rate", lat_us)
pktgen.latency(port, "enable")
pktgen.delay(500)

printf("latch.lua: port %s, rate %s%%, %s s, a probe every %s us\n",
	port, tostring(rate), tostring(seconds), tostring(lat_us))
pktgen.start(port)
pktgen.sleep(seconds)
pktgen.stop(port)
pktgen.delay(500) -- the last probes and answers come back

show("port counters", pktgen.portStats(port, "port"))
show("rate counters", pktgen.portStats(port, "rate"))
show("packet statistics (latency included)", pktgen.pktStats(port))

pktgen.latency(port, "disable")
if os.getenv("LATCH_PG_QUIT") == "1" then
	pktgen.quit()
end

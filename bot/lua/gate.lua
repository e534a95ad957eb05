-- Store.upstream_gate: may this issuance call Talon.One now (breaker, then the campaign's budget)?
-- KEYS[1] breaker, KEYS[2] probe, KEYS[3] budget
-- ARGV[1] budget interval_ms (0 = no budget), ARGV[2] budget burst, ARGV[3] probe_ttl_ms
-- Returns upstream_gate's answer (upstream_gate.lua).
return upstream_gate(KEYS[1], KEYS[2], KEYS[3], tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3])

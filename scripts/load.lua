-- wrk script for scripts/load.sh's DPoP run: every request carries the
-- bundle with the DPoP scheme and its own single-use proof, read from
-- PROOFS (one per line, written by examples/load_server --dpop N). Each wrk
-- thread takes every THREADS-th line from its own offset, so no proof is
-- sent twice; when a thread runs out it stops sending proofs and the
-- server's refusals show up as non-2xx responses in wrk's report.
local threads = {}
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  local bundle = io.open(os.getenv("BUNDLE"), "r"):read("*l")
  local total = tonumber(os.getenv("THREADS"))
  authorization = "DPoP " .. bundle
  proofs = {}
  local n = 0
  for line in io.lines(os.getenv("PROOFS")) do
    if n % total == id then
      proofs[#proofs + 1] = line
    end
    n = n + 1
  end
  cursor = 0
end

function request()
  cursor = cursor + 1
  local proof = proofs[cursor]
  if proof == nil then
    proof = "exhausted"
  end
  -- (a headers table given to wrk.format replaces wrk.headers)
  return wrk.format(nil, nil, { ["Authorization"] = authorization, ["DPoP"] = proof })
end

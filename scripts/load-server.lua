-- wrk script for scripts/load-server.sh: POSTs to the token service with
-- HTTP Basic client authentication, the parts read from files that
-- examples/load_server wrote (they hold client secrets, so they are read
-- here rather than passed on wrk's command line).
--   AUTH   a file holding the Authorization header value
--   BODY   a file of form bodies, one a line: each wrk thread sends them in
--          turn from its own offset (one line: the same body every time)
--   THREADS  wrk's thread count
local threads = {}
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  authorization = io.open(os.getenv("AUTH"), "r"):read("*l")
  bodies = {}
  for line in io.lines(os.getenv("BODY")) do
    if line ~= "" then
      bodies[#bodies + 1] = line
    end
  end
  local total = tonumber(os.getenv("THREADS"))
  -- spread the threads over the list
  cursor = math.floor(#bodies * id / total)
  headers = {
    ["Authorization"] = authorization,
    ["Content-Type"] = "application/x-www-form-urlencoded",
  }
end

function request()
  cursor = cursor % #bodies + 1
  return wrk.format("POST", wrk.path, headers, bodies[cursor])
end

-- wrk counts non-2xx answers; a refusal under load shows there

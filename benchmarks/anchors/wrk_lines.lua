-- wrk script: replay pre-built requests from a file, one per line: PATH<TAB>Header: value<TAB>…
-- Each wrk thread takes every Nth line (its own slice), so signed requests never reuse a nonce
-- across threads. Usage: wrk -s wrk_lines.lua URL -- FILE THREADS
local counter = 0
function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end

local lines, i, step = {}, 0, 1
function init(args)
  local n = 0
  step = tonumber(args[2])
  for line in io.lines(args[1]) do
    if n % step == tid then table.insert(lines, line) end
    n = n + 1
  end
end

function request()
  i = i + 1
  if i > #lines then i = 1 end
  local fields = {}
  for f in string.gmatch(lines[i], "[^\t]+") do table.insert(fields, f) end
  local headers = {}
  for k = 2, #fields do
    local name, value = string.match(fields[k], "^([^:]+):%s*(.*)$")
    headers[name] = value
  end
  return wrk.format("GET", fields[1], headers)
end

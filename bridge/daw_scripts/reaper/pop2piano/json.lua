-- A small JSON decoder for the bridge's notes documents (REAPER's Lua has none built in).
-- Decodes objects, arrays, strings (with escapes, \u as UTF-8), numbers, true/false/null.
local json = {}

local escapes = { ['"'] = '"', ['\\'] = '\\', ['/'] = '/', b = '\b', f = '\f', n = '\n', r = '\r', t = '\t' }

local function fail(_text, pos, what)
  error(string.format("JSON: %s at character %d", what, pos), 0)
end

local function skip(text, pos)
  return text:find("[^ \t\r\n]", pos) or #text + 1
end

local function utf8_char(code)
  if code < 0x80 then return string.char(code) end
  if code < 0x800 then return string.char(0xC0 | (code >> 6), 0x80 | (code & 0x3F)) end
  return string.char(0xE0 | (code >> 12), 0x80 | ((code >> 6) & 0x3F), 0x80 | (code & 0x3F))
end

local value -- forward declaration

local function parse_string(text, pos)
  local parts, i = {}, pos + 1
  while true do
    local c = text:sub(i, i)
    if c == "" then fail(text, i, "unterminated string") end
    if c == '"' then return table.concat(parts), i + 1 end
    if c == "\\" then
      local e = text:sub(i + 1, i + 1)
      if e == "u" then
        local hex = text:sub(i + 2, i + 5)
        if not hex:match("^%x%x%x%x$") then fail(text, i, "bad \\u escape") end
        parts[#parts + 1] = utf8_char(tonumber(hex, 16))
        i = i + 6
      elseif escapes[e] then
        parts[#parts + 1] = escapes[e]
        i = i + 2
      else
        fail(text, i, "bad escape")
      end
    else
      local j = text:find('["\\]', i) or #text + 1
      parts[#parts + 1] = text:sub(i, j - 1)
      i = j
    end
  end
end

local function parse_number(text, pos)
  local s, e = text:find("^-?%d+%.?%d*[eE]?[-+]?%d*", pos)
  if not s then fail(text, pos, "bad number") end
  local n = tonumber(text:sub(s, e))
  if n == nil then fail(text, pos, "bad number") end
  return n, e + 1
end

local function parse_array(text, pos)
  local result, i = {}, skip(text, pos + 1)
  if text:sub(i, i) == "]" then return result, i + 1 end
  while true do
    local v
    v, i = value(text, i)
    result[#result + 1] = v
    i = skip(text, i)
    local c = text:sub(i, i)
    if c == "]" then return result, i + 1 end
    if c ~= "," then fail(text, i, "expected , or ]") end
    i = skip(text, i + 1)
  end
end

local function parse_object(text, pos)
  local result, i = {}, skip(text, pos + 1)
  if text:sub(i, i) == "}" then return result, i + 1 end
  while true do
    if text:sub(i, i) ~= '"' then fail(text, i, "expected a key") end
    local key
    key, i = parse_string(text, i)
    i = skip(text, i)
    if text:sub(i, i) ~= ":" then fail(text, i, "expected :") end
    local v
    v, i = value(text, skip(text, i + 1))
    result[key] = v
    i = skip(text, i)
    local c = text:sub(i, i)
    if c == "}" then return result, i + 1 end
    if c ~= "," then fail(text, i, "expected , or }") end
    i = skip(text, i + 1)
  end
end

value = function(text, pos)
  pos = skip(text, pos)
  local c = text:sub(pos, pos)
  if c == "{" then return parse_object(text, pos) end
  if c == "[" then return parse_array(text, pos) end
  if c == '"' then return parse_string(text, pos) end
  if c == "-" or c:match("%d") then return parse_number(text, pos) end
  if text:sub(pos, pos + 3) == "true" then return true, pos + 4 end
  if text:sub(pos, pos + 4) == "false" then return false, pos + 5 end
  if text:sub(pos, pos + 3) == "null" then return json.null, pos + 4 end
  fail(text, pos, "unexpected character")
end

json.null = setmetatable({}, { __tostring = function() return "null" end })

function json.decode(text)
  local result, pos = value(text, 1)
  pos = skip(text, pos)
  if pos <= #text then fail(text, pos, "trailing characters") end
  return result
end

return json

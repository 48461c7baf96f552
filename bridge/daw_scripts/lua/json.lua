-- A small JSON codec (neither REAPER's nor Ardour's Lua has one built in). Decodes the bridge's
-- notes documents, the installed config and `send`'s output lines: objects, arrays, strings (escapes; \u as UTF-8,
-- surrogate pairs joined), numbers, true/false/null. Encodes the request files `send` reads.
local json = {}

local escapes = { ['"'] = '"', ['\\'] = '\\', ['/'] = '/', b = '\b', f = '\f', n = '\n', r = '\r', t = '\t' }

local function fail(_text, pos, what)
  error(string.format("JSON: %s at character %d", what, pos), 0)
end

local function skip(text, pos)
  return text:find("[^ \t\r\n]", pos) or #text + 1
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
        local code = tonumber(hex, 16)
        i = i + 6
        -- A character beyond the BMP comes as a UTF-16 surrogate pair: \ud83c\udfb9 is one code point.
        local low = text:match("^\\u([dD][c-fC-F]%x%x)", i)
        if code >= 0xD800 and code <= 0xDBFF and low then
          code = 0x10000 + ((code - 0xD800) << 10) + (tonumber(low, 16) - 0xDC00)
          i = i + 6
        end
        parts[#parts + 1] = utf8.char(code)
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

-- Encoding. Tables marked with json.array() are arrays (so an empty one is [] and not {});
-- other tables with keys 1..n are arrays too, and everything else is an object with sorted keys.
local ARRAY = setmetatable({}, { __mode = "k" })

function json.array(list)
  ARRAY[list] = true
  return list
end

local short = { ['"'] = '\\"', ['\\'] = '\\\\', ['\b'] = '\\b', ['\f'] = '\\f', ['\n'] = '\\n',
  ['\r'] = '\\r', ['\t'] = '\\t' }

local function encode_string(s)
  -- The bridge reads request files as UTF-8: a path in another encoding would be misread, so it is
  -- refused here with a message rather than sent. Non-ASCII text is written as it is (UTF-8).
  if not utf8.len(s) then error("JSON: text is not valid UTF-8: " .. s:gsub("[\128-\255]", "?"), 0) end
  return '"' .. s:gsub('[%c"\\]', function(c)
    return short[c] or string.format("\\u%04x", c:byte())
  end) .. '"'
end

local function is_array(t)
  if ARRAY[t] then return true end
  local n = #t
  if n == 0 then return false end
  for k in pairs(t) do
    if math.type(k) ~= "integer" or k < 1 or k > n then return false end
  end
  return true
end

local function encode(v)
  local kind = type(v)
  if v == json.null or v == nil then return "null" end
  if kind == "boolean" then return tostring(v) end
  if kind == "string" then return encode_string(v) end
  if kind == "number" then
    if v ~= v or v == math.huge or v == -math.huge then error("JSON: cannot encode " .. tostring(v), 0) end
    if math.type(v) == "integer" then return string.format("%d", v) end
    -- %.17g round-trips every double; ".0" keeps a whole float a float for the reader.
    local text = string.format("%.17g", v)
    return text:find("[.eE]") and text or (text .. ".0")
  end
  if kind ~= "table" then error("JSON: cannot encode a " .. kind, 0) end
  local parts = {}
  if is_array(v) then
    for i = 1, #v do parts[i] = encode(v[i]) end
    return "[" .. table.concat(parts, ",") .. "]"
  end
  local keys = {}
  for k in pairs(v) do
    if type(k) ~= "string" then error("JSON: object keys must be strings", 0) end
    keys[#keys + 1] = k
  end
  table.sort(keys)
  for i, k in ipairs(keys) do parts[i] = encode_string(k) .. ":" .. encode(v[k]) end
  return "{" .. table.concat(parts, ",") .. "}"
end

function json.encode(data)
  return encode(data)
end

return json

// What both backends do to keys and values so that they store, order and return exactly
// the same things. PostgreSQL decides what is storable (text and jsonb refuse NUL and
// invalid UTF-8, JSON has no NaN or infinity) and how numbers come back (jsonb keeps a
// number as an exact decimal with no int/double distinction); the memory backend is
// made to refuse and normalize alike, instead of accepting in dev what production refuses.
#pragma once

#include <string>
#include <string_view>

#include "snap/store.h"

namespace snap::store_detail {

// A key or index key for error messages: quoted, with control and non-UTF-8 bytes
// escaped as \xNN so that a message is always printable.
std::string printable(std::string_view text);
// The same, unquoted.
std::string escaped(std::string_view text);

// Why `text` cannot be a key or index key (too long, NUL, invalid UTF-8), or nullptr
// when it can.
const char* text_problem(std::string_view text);
[[noreturn]] void throw_bad_text(std::string_view text, const std::string& what);

// Throws StoreError kInvalidArgument when `text` is empty, longer than kMaxKeyBytes,
// contains NUL or is not valid UTF-8. `what()` names the thing in the message, e.g. `store "orders": key`; it is only
// called on failure, so that the common path builds no strings.
template <typename What>
void check_text(std::string_view text, What&& what) {
  if (text.empty() || text_problem(text) != nullptr) throw_bad_text(text, what());
}

struct ValueFacts {
  bool has_double = false;  // needs the exact double path to and from PostgreSQL
  bool normalizes = false;  // normalize() would change it
};

// Fills `facts`, or returns false with `reason` and `path` (a JSON pointer) set.
bool inspect_value(const json& value, ValueFacts& facts, std::string& path, std::string& reason);
[[noreturn]] void throw_bad_value(const std::string& what, const std::string& path, const std::string& reason);

// Throws StoreError kInvalidArgument, naming `what()` and the JSON pointer of the
// offending part, when a value cannot be stored: a non-finite double, or a string or
// object member name with NUL or invalid UTF-8.
template <typename What>
ValueFacts check_value(const json& value, What&& what) {
  ValueFacts facts;
  std::string path, reason;
  if (!inspect_value(value, facts, path, reason)) throw_bad_value(what(), path, reason);
  return facts;
}

// The value as PostgreSQL gives it back: an unsigned integer that fits int64 becomes
// int64 and -0.0 becomes 0.0 (jsonb numeric has no negative zero). Doubles stay doubles.
void normalize(json& value);

// JSON text for a jsonb parameter. Doubles are written in plain decimal with at least one
// fractional digit (2.0 as "2.0", 1e19 as "10000000000000000000.0"), because jsonb keeps
// the digits it is given: "2E0" would come back as the integer 2.
std::string to_postgres_text(const json& value, const ValueFacts& facts);

// Parses jsonb output text. Doubles are re-read with std::from_chars, which is correctly
// rounded (Boost.JSON 1.81's parser is not: about 1 in 7 random doubles comes back one
// unit in the last place off).
json from_postgres_text(std::string_view text);

}  // namespace snap::store_detail

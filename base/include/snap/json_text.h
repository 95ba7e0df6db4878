// JSON text written by hand where a document is built on a hot path (OTLP bodies, JSON log
// lines): a string's quoted, escaped form.
//
// Thread safety: pure functions.
#pragma once

#include <string>
#include <string_view>

namespace snap {

// Appends `text` as a JSON string (quotes included). The result is always valid UTF-8:
// a byte sequence that is not UTF-8 (overlong, a surrogate, past U+10FFFF, cut short)
// becomes U+FFFD, since a collector or log pipeline refuses a whole batch for one bad
// byte, and the text may be any user's data.
void append_json_string(std::string& out, std::string_view text);

}  // namespace snap

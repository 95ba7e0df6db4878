#include "snap/divergence.h"

#include <cstdio>

#include "snap/text.h"

namespace snap {

namespace {

// Keys and requests can be binary or long; show enough to recognise them, on one line.
// Everything that came from a log is escaped (snap::printable): a log is untrusted, and
// its strings must not act on the terminal that shows this report.
std::string quoted(const std::string& bytes) {
  constexpr std::size_t kShown = 80;
  std::string out = "\"";
  for (const char c : printable(std::string_view(bytes).substr(0, kShown))) {
    if (c == '"') out += '\\';
    out += c;
  }
  out += '"';
  if (bytes.size() > kShown) out += " (" + std::to_string(bytes.size()) + " bytes)";
  return out;
}

std::string describe(const Divergence::Call& c, const char* site_word) {
  std::string s = printable(c.kind);
  if (!c.key.empty()) s += " " + quoted(c.key);
  if (!c.request.empty()) s += " request " + quoted(c.request);
  if (!c.file.empty()) {
    s += std::string("  (") + site_word + " " + printable(c.file) + ":" + std::to_string(c.line);
    if (!c.function.empty()) s += " in " + printable(c.function);
    s += ")";
  }
  return s;
}

std::string headline(Divergence::Reason reason, std::uint64_t index, std::uint64_t left, std::string_view recorder) {
  const std::string at = "replay diverged at event " + std::to_string(index) + ": ";
  switch (reason) {
    case Divergence::Reason::kDifferentCall:
      return at + "the program asked for a different input than " + std::string(recorder) + " recorded";
    case Divergence::Reason::kDifferentRequest:
      return at + "the program sent a different request than " + std::string(recorder) + " recorded";
    case Divergence::Reason::kLogExhausted: return at + "the program asked for more than the log holds";
    case Divergence::Reason::kEventsLeftOver:
      return at + "the program finished with " + std::to_string(left) + " event" + (left == 1 ? "" : "s") +
             " left unread";
    case Divergence::Reason::kUnsupportedVersion: return at + "the recorded version is not supported by this program";
  }
  return at;
}

constexpr std::string_view kStartupAdvice =
    "the program no longer reads what the build recorded: rebuild (`build`) to deploy this program, or keep the old "
    "reads for old logs behind membrane.version(...)";

std::string message(Divergence::Reason reason, std::uint64_t index, const std::optional<Divergence::Call>& expected,
                    const std::optional<Divergence::Call>& actual, std::uint64_t left, const std::string& detail,
                    std::string_view recorder = "the build", std::string_view advice = kStartupAdvice) {
  std::string m = headline(reason, index, left, recorder);
  if (expected) m += "\n  log expected:   " + describe(*expected, "recorded at");
  if (actual) m += "\n  program asked:  " + describe(*actual, "at");
  if (!detail.empty()) m += "\n  " + detail;
  if (reason != Divergence::Reason::kUnsupportedVersion && !advice.empty()) m += "\n  " + std::string(advice);
  return m;
}

std::string_view detail_name(Divergence::Reason reason) {
  switch (reason) {
    case Divergence::Reason::kDifferentCall: return "divergence.different_call";
    case Divergence::Reason::kDifferentRequest: return "divergence.different_request";
    case Divergence::Reason::kLogExhausted: return "divergence.log_exhausted";
    case Divergence::Reason::kEventsLeftOver: return "divergence.events_left_over";
    case Divergence::Reason::kUnsupportedVersion: return "divergence.unsupported_version";
  }
  return "divergence";
}

}  // namespace

Divergence::Divergence(Reason reason, std::uint64_t index, std::optional<Call> expected, std::optional<Call> actual,
                       std::uint64_t events_left, std::string detail)
    : Error(ErrorCode::kFailedPrecondition, std::string(detail_name(reason)),
            message(reason, index, expected, actual, events_left, detail)),
      reason_(reason),
      index_(index),
      expected_(std::move(expected)),
      actual_(std::move(actual)),
      events_left_(events_left),
      detail_(std::move(detail)) {}

std::string Divergence::report(std::string_view recorder, std::string_view advice) const {
  return message(reason_, index_, expected_, actual_, events_left_, detail_, recorder, advice);
}

}  // namespace snap

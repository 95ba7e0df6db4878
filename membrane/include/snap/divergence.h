// Divergence: a replayed program asked for something other than what the build recorded.
//
// It names the first differing event index, what the log expected (kind, key, request,
// recorded call site) and what the program asked for (with its call site). Call sites are
// shown, never compared: a rebuilt binary moves lines.
//
// Its canonical code is failed_precondition (this binary is not the one the log was
// recorded by: rebuild), so a program that stops on a Divergence exits with
// kExitDivergence (snap/error.h); its detail is "divergence.REASON"
// ("divergence.different_call").
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "snap/error.h"

namespace snap {

class Divergence : public Error {
 public:
  enum class Reason {
    kDifferentCall,       // kind or key differs from the next recorded event
    kDifferentRequest,    // same kind and key, different request bytes
    kLogExhausted,        // the program asked for more than the log holds
    kEventsLeftOver,      // the program finished with events left unread
    kUnsupportedVersion,  // version() found a recorded version outside the supported range
  };

  // One side of the comparison.
  struct Call {
    std::string kind;
    std::string key;
    std::string request;
    std::string file;  // call site; empty when unknown
    std::uint32_t line = 0;
    std::string function;
  };

  Divergence(Reason reason, std::uint64_t index, std::optional<Call> expected, std::optional<Call> actual,
             std::uint64_t events_left = 0, std::string detail = {});

  Reason reason() const { return reason_; }
  // Index of the first event that differs (for kEventsLeftOver: the first unread one).
  std::uint64_t index() const { return index_; }
  const std::optional<Call>& expected() const { return expected_; }
  const std::optional<Call>& actual() const { return actual_; }
  std::uint64_t events_left() const { return events_left_; }
  // what() in other words: `recorder` is what recorded the events ("the build", "the
  // episode"), `advice` the closing line (none when empty).
  std::string report(std::string_view recorder, std::string_view advice) const;

 private:
  Reason reason_;
  std::uint64_t index_;
  std::optional<Call> expected_;
  std::optional<Call> actual_;
  std::uint64_t events_left_;
  std::string detail_;
};

}  // namespace snap

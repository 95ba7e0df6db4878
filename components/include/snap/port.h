// Port: a TCP port number chosen at the first build and kept by every later build into
// the same output directory, so deployment files and clients stay valid.
//
// Numbers are allocated from 20000 upward (to 32767), lowest free first, in declaration
// order. The range lies below the ports Linux hands out to outgoing connections
// (32768-60999) and below IANA's dynamic range (49152-65535): a connection's local port can
// never hold the number a server is about to listen on. They
// live in the build state (state/build-state.json, key "ports"), which startup reads
// through the membrane, so every container replays the same number. A removed Port keeps
// its number reserved; adding it back returns the same number.
//
// A --local build's personas share this host's ports, so it also skips the numbers other
// --local builds on this host hold (replay/src/local_ports.h): two apps built --local get
// different numbers, and a kept number another --local build holds moves to a free one.
//
// Thread safety: immutable after construction.
#pragma once

#include <cstdint>

#include "snap/component.h"

namespace snap {

class Port final : public Component {
 public:
  static constexpr std::uint16_t kFirstPort = 20000;
  static constexpr std::uint16_t kLastPort = 32767;
  // Where numbers started for logs recorded before (they replay with it).
  static constexpr std::uint16_t kFirstPortBefore20000 = 35000;

  explicit Port(const Init& init);
  std::uint16_t number() const { return number_; }
  boost::json::object config() const override;

 private:
  std::uint16_t number_;
};

}  // namespace snap

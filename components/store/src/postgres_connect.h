// One connection attempt of the PostgreSQL backend, bounded in time from the lookup of the
// server's name to the end of authentication, so that RetryPolicy's budget is what a
// caller really waits when the server is gone. libpq bounds the connect itself
// (connect_timeout) but not its lookup: getaddrinfo blocks for as long as the resolver
// takes, and for a stopped container's name on an internal Docker network that is 10 s.
// So the name is looked up here, on a thread, and handed to libpq as `hostaddr`.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace snap::store_detail {

// A host name's addresses in numeric form, in the resolver's order; empty, with `error`
// set, when it has none. Blocking.
using HostLookup = std::function<std::vector<std::string>(const std::string& host, std::string& error)>;

// getaddrinfo (TCP, any family).
std::vector<std::string> system_lookup(const std::string& host, std::string& error);

// Runs each lookup on a thread of its own and waits for it at most `timeout`. A lookup
// still running that started less than `timeout` ago is joined instead of started again,
// so a resolver that never answers costs at most one thread per `timeout`, while a lookup
// that hung before the name came back does not hold the calls after it. Thread-safe.
class BoundedLookup {
 public:
  explicit BoundedLookup(std::chrono::milliseconds timeout, HostLookup lookup = system_lookup);
  ~BoundedLookup();
  BoundedLookup(const BoundedLookup&) = delete;
  BoundedLookup& operator=(const BoundedLookup&) = delete;

  // The addresses of `host`, or empty with `error` set (unresolvable, or no answer
  // within the timeout).
  std::vector<std::string> operator()(const std::string& host, std::string& error);

 private:
  struct State;
  std::shared_ptr<State> state_;  // shared with the lookup threads, which may outlive this
};

// The libpq connection string for one attempt at `connection` (key=value or URI form):
// - connect_timeout is `connect_timeout` whatever the string said (libpq counts whole
//   seconds and treats less than 2 as 2);
// - when the string names exactly one host by name (not a socket directory, not an IP
//   address) and no hostaddr, the name is looked up with `lookup` and its addresses are
//   given as hostaddr, each with the name as host, so that libpq does no lookup itself.
// Returns nullopt with `error` set when the lookup fails, or when the string does not
// parse (libpq's message).
std::optional<std::string> attempt_connection(const std::string& connection, std::chrono::seconds connect_timeout,
                                              BoundedLookup& lookup, std::string& error);

}  // namespace snap::store_detail

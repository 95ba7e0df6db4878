// The baselines: a bare Boost.Beast server and synchronous client doing the same JSON
// echo as the snap::ApiServer endpoint, with nothing else (no limits, no routing table,
// no error model, no pool).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <boost/describe.hpp>

namespace bench {

struct Echo {
  std::string name;
  int count = 0;
  std::vector<std::string> tags;
};
BOOST_DESCRIBE_STRUCT(Echo, (), (name, count, tags))

// Hand-written conversions, as a program without snap/json_struct.h would write them.
std::string bare_encode(const Echo& e);
Echo bare_decode(const std::string& text);

// POST /echo on 127.0.0.1:port with `threads` threads; runs until the process ends.
void run_bare_server(unsigned short port, unsigned threads);

// One keep-alive connection; echo() is a synchronous round trip.
class BareClient {
 public:
  // `build`: sent as Snap-Build when not empty, as the typed client names its build
  // (what a server's version-skew check reads).
  explicit BareClient(unsigned short port, std::string build = {});
  ~BareClient();
  Echo echo(const Echo& e);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace bench

// The throughput subjects for wrk_compare.sh: a snapshot program whose persona `api` is
// a snap::ApiServer with a JSON echo endpoint (`api_echo_server build --out DIR --local`,
// then `run api`), and `api_echo_server bare PORT` serving the same echo with bare Beast.
// Both use one I/O thread; the ApiServer's handler limits are the defaults
// (handler_threads 16, handler_queue 128), its spare threads idle unless a handler blocks.
#include <cstdlib>
#include <cstring>

#include "bare_beast.h"
#include "snap/api_server.h"
#include "snap/main.h"

namespace {

void define_app(snap::App& app) {
  snap::ApiServerOptions options;
  options.threads = 1;
  auto& api = app.add<snap::ApiServer>("api", options);
  api.endpoint<bench::Echo, bench::Echo>("POST", "/echo", [](const bench::Echo& e) { return e; });
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::strcmp(argv[1], "bare") == 0) {
    bench::run_bare_server(static_cast<unsigned short>(std::atoi(argv[2])), 1);
    return 0;
  }
  return snap::run(argc, argv, "apibench", define_app);
}

// Uses the installed headers and libraries: the lifecycle, a component, the log reader.
#include <iostream>

#include "snap/app.h"
#include "snap/main.h"
#include "snap/log_reader.h"
#include "snap/membrane.h"
#include "snap/port.h"
#include "snap/env.h"

int main(int argc, char** argv) {
  if (argc == 3 && std::string(argv[1]) == "count") {
    auto reader = snap::LogReader::open(argv[2]);
    std::cout << "events=" << reader->trailer().event_count << "\n";
    return 0;
  }
  return snap::run(argc, argv, "consumer", [](snap::App& app) {
    auto& port = app.add<snap::Port>("port");
    std::cout << "startup: port=" << port.number() << " id=" << app.membrane().uuid() << std::endl;
  });
}

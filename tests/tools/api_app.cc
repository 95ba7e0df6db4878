// An API server built in variants, so that `build` compares real builds of one program
// whose endpoint types change. The variant comes from $API_APP_VARIANT, read in main()
// before snap::run (outside startup, so it is not a recorded input):
//   base        POST /api/customer takes a Customer {id, name}
//   compatible  Customer gains an optional nickname; GET /api/status is new
//   breaking    Customer gains a required email
#include <cstdlib>
#include <optional>
#include <string>

#include "snap/api_server.h"
#include "snap/app.h"
#include "snap/main.h"

namespace base {
struct Customer {
  std::string id;
  std::string name;
};
BOOST_DESCRIBE_STRUCT(Customer, (), (id, name))
}  // namespace base

namespace compatible {
struct Customer {
  std::string id;
  std::string name;
  std::optional<std::string> nickname;
};
BOOST_DESCRIBE_STRUCT(Customer, (), (id, name, nickname))
}  // namespace compatible

namespace breaking {
struct Customer {
  std::string id;
  std::string name;
  std::string email;
};
BOOST_DESCRIBE_STRUCT(Customer, (), (id, name, email))
}  // namespace breaking

namespace {

struct CustomerId {
  std::string id;
};
BOOST_DESCRIBE_STRUCT(CustomerId, (), (id))

std::string variant;  // set once in main(), before startup

template <typename Customer>
void customer_endpoint(snap::ApiServer& api) {
  api.endpoint<Customer, CustomerId>("POST", "/api/customer", [](const Customer& c) { return CustomerId{c.id}; });
}

void define_app(snap::App& app) {
  auto& api = app.add<snap::ApiServer>("api");
  if (variant == "compatible") {
    customer_endpoint<compatible::Customer>(api);
    api.endpoint<void, CustomerId>("GET", "/api/status", [] { return CustomerId{"ok"}; });
  } else if (variant == "breaking") {
    customer_endpoint<breaking::Customer>(api);
  } else {
    customer_endpoint<base::Customer>(api);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (const char* v = std::getenv("API_APP_VARIANT")) variant = v;
  return snap::run(argc, argv, "customers", define_app);
}

// Two scopes, each with a server named "api" (issue 20): the short name alone no longer
// says which persona is meant, so `run`, the dev REPL and the deployment files have to
// go by the scoped names. two_apis_test builds, runs and deploys it.
//
//   two_apis_app dev --repl                   both servers in one process; `check` at the REPL
//   two_apis_app build --out DIR --local && two_apis_app run orders.api --log DIR/snapshot.snaplog
//
// Servers: "orders.api" (service orders-api) answers GET /orders/{id}; "billing.api"
// (service billing-api) answers GET /invoices/{id}. The command "check" calls both and
// prints each answer as JSON, one line each.
#include <cstdint>
#include <iostream>
#include <string>

#include "snap/api_server.h"
#include "snap/app.h"
#include "snap/main.h"
#include "snap/persona.h"

namespace orders {

struct OrderId {
  std::string id;
};
BOOST_DESCRIBE_STRUCT(OrderId, (), (id))

struct Order {
  std::string id;
  std::string item;
};
BOOST_DESCRIBE_STRUCT(Order, (), (id, item))

}  // namespace orders

namespace billing {

struct InvoiceId {
  std::string id;
};
BOOST_DESCRIBE_STRUCT(InvoiceId, (), (id))

struct Invoice {
  std::string id;
  std::int64_t cents = 0;
};
BOOST_DESCRIBE_STRUCT(Invoice, (), (id, cents))

}  // namespace billing

namespace {

// Every answer is made from the request alone: nothing is stored, so each process of a
// local build answers as dev does.
snap::Endpoint<orders::OrderId, orders::Order> define_orders(snap::Component& scope) {
  return scope.add<snap::ApiServer>("api").endpoint<orders::OrderId, orders::Order>(
      "GET", "/orders/{id}", [](const orders::OrderId& request) { return orders::Order{request.id, "book"}; });
}

snap::Endpoint<billing::InvoiceId, billing::Invoice> define_billing(snap::Component& scope) {
  return scope.add<snap::ApiServer>("api").endpoint<billing::InvoiceId, billing::Invoice>(
      "GET", "/invoices/{id}",
      [](const billing::InvoiceId& request) { return billing::Invoice{request.id, 1250}; });
}

void define_app(snap::App& app) {
  const auto get_order = define_orders(app.scope("orders"));
  const auto get_invoice = define_billing(app.scope("billing"));
  app.add<snap::Persona>("check", snap::PersonaKind::kCommand, [get_order, get_invoice](snap::PersonaContext& ctx) {
       std::cout << "order " << snap::encode_json(get_order(ctx, orders::OrderId{"7"})) << std::endl;
       std::cout << "invoice " << snap::encode_json(get_invoice(ctx, billing::InvoiceId{"7"})) << std::endl;
       return 0;
     })
      .uses(get_order.server())
      .uses(get_invoice.server());
}

}  // namespace

int main(int argc, char** argv) { return snap::run(argc, argv, "two-apis", define_app); }

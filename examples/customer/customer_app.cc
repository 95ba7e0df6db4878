// The customer server: a PostgreSQL-backed store behind an API server with "post
// customer" (POST /api/customer) and "get customer" (GET /api/customer/{id}) endpoints,
// an example client that runs once at deployment, posts {id: "1", name: "John Doe"} and
// reads it back, and a command that prints one customer.
//
//   customer dev                      everything in this process, the store in memory;
//                                     the REPL runs `get-customer 1`
//   customer build --out build/customer
//   docker-compose -f build/customer/docker-compose.yml up -d    (docs/deploy.md)
//   build/customer/bin/get-customer 1                            (the command, deployed)
//
// The database is a local of create_customer_server: nothing outside it can reach it.
// The client gets the server's typed endpoints as a parameter, and `uses` the server, so
// its container may reach the API server and nothing else.
#include <iostream>
#include <optional>
#include <string>

#include "snap/api_server.h"
#include "snap/app.h"
#include "snap/cli_command.h"
#include "snap/job.h"
#include "snap/key_value_store.h"
#include "snap/logging.h"
#include "snap/main.h"
#include "snap/persona.h"
#include "snap/postgres.h"

struct Customer {
  std::string id;
  std::string name;
};
BOOST_DESCRIBE_STRUCT(Customer, (), (id, name))

struct CustomerId {
  std::string id;
};
BOOST_DESCRIBE_STRUCT(CustomerId, (), (id))

struct CustomerServer {
  snap::Endpoint<Customer, void> post_customer;
  snap::Endpoint<CustomerId, Customer> get_customer;
};

CustomerServer create_customer_server(snap::Component& scope) {
  auto& db = scope.add<snap::Postgres>("db");
  auto& customers = scope.add<snap::KeyValueStore>("customers", db);
  auto& server = scope.add<snap::ApiServer>("api");
  server.uses(customers);

  auto post_customer = server.endpoint<Customer, void>(
      "POST", "/api/customer", [&customers](snap::PersonaContext& ctx, const Customer& customer) {
        customers.open<Customer>(ctx).set(customer.id, customer);
      });
  auto get_customer = server.endpoint<CustomerId, Customer>(
      "GET", "/api/customer/{id}", [&customers](snap::PersonaContext& ctx, const CustomerId& request) {
        std::optional<Customer> customer = customers.open<Customer>(ctx).get(request.id);
        if (!customer) throw snap::ApiError(snap::ErrorCode::kNotFound, "no customer " + request.id);
        return *customer;
      });
  return {post_customer, get_customer};
}

void create_example_client(snap::Component& scope, const CustomerServer& server) {
  // Runs once at deployment, after the API server is healthy (and once in dev).
  scope
      .add<snap::Job>("example-client",
                      [server](snap::PersonaContext& ctx) {
                        server.post_customer(ctx, Customer{"1", "John Doe"});
                        const Customer customer = server.get_customer(ctx, CustomerId{"1"});
                        // A log line carries the run's trace id (docs/observability.md).
                        ctx.log().info("posted and loaded customer {}", customer.id);
                        std::cout << "Loaded customer: " << snap::encode_json(customer) << std::endl;
                        return 0;
                      })
      .uses(server.post_customer);
}

void create_customer_commands(snap::Component& scope, const CustomerServer& server) {
  // On demand: `get-customer ID` at the dev REPL, or bin/get-customer ID when deployed.
  scope
      .add<snap::CliCommand>("get-customer", "Print a customer", snap::args_of<CustomerId>({{"id", "the customer's id"}}),
                             [server](snap::PersonaContext& ctx, const CustomerId& id) {
                               const Customer customer = server.get_customer(ctx, id);
                               std::cout << snap::encode_json(customer) << std::endl;
                               return 0;
                             })
      .uses(server.get_customer);
}

void define_app(snap::App& app) {
  const CustomerServer server = create_customer_server(app.scope("customer-server"));
  create_example_client(app, server);
  create_customer_commands(app, server);
}

int main(int argc, char** argv) { return snap::run(argc, argv, "customer", define_app); }

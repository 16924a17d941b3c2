// Engine.IO and Socket.IO framing, and the event mapping, without sockets.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "engine_io.h"
#include "events.h"
#include "socket_io.h"

namespace tickcast::socketio {
namespace {

TEST(EngineIo, DecodesPacketsAndPayloads) {
  auto ping = engine::decode_packet("2probe");
  ASSERT_TRUE(ping);
  EXPECT_EQ(ping->type, engine::PacketType::ping);
  EXPECT_EQ(ping->data, "probe");
  EXPECT_FALSE(engine::decode_packet(""));
  EXPECT_FALSE(engine::decode_packet("7"));
  EXPECT_FALSE(engine::decode_packet("x"));
  EXPECT_TRUE(engine::decode_packet("bAQID")->binary);

  auto payload = engine::decode_payload(
      "40\x1e"
      "3\x1e"
      "42[\"start\"]");
  ASSERT_TRUE(payload);
  ASSERT_EQ(payload->size(), 3u);
  EXPECT_EQ((*payload)[0].data, "0");
  EXPECT_EQ((*payload)[1].type, engine::PacketType::pong);
  EXPECT_EQ((*payload)[2].data, "2[\"start\"]");
  EXPECT_FALSE(
      engine::decode_payload("40\x1e\x1e"
                             "3"));  // an empty packet
  EXPECT_FALSE(
      engine::decode_payload("40\x1e"
                             "9"));
}

TEST(EngineIo, HandshakeAndErrorsInEngineIoTerms) {
  engine::HandshakeOptions options;
  options.ping_interval = std::chrono::milliseconds(300);
  options.ping_timeout = std::chrono::milliseconds(200);
  options.max_payload = 1000;
  const std::string open = engine::open_packet("abc", true, options);
  ASSERT_EQ(open.front(), '0');
  EXPECT_EQ(nlohmann::json::parse(open.substr(1)),
            nlohmann::json::parse(R"({"sid":"abc","upgrades":["websocket"],"pingInterval":300,
                                      "pingTimeout":200,"maxPayload":1000})"));
  EXPECT_EQ(engine::error_body(engine::ErrorCode::unsupported_protocol_version),
            R"({"code":5,"message":"Unsupported protocol version"})");
  EXPECT_EQ(engine::error_body(engine::ErrorCode::unknown_sid),
            R"({"code":1,"message":"Session ID unknown"})");
  EXPECT_EQ(engine::error_status(engine::ErrorCode::forbidden), 403);

  engine::ErrorCode code{};
  EXPECT_FALSE(engine::check_query({{"EIO", "3"}, {"transport", "polling"}}, false, code));
  EXPECT_EQ(code, engine::ErrorCode::unsupported_protocol_version);
  EXPECT_FALSE(engine::check_query({{"EIO", "4"}, {"transport", "flash"}}, false, code));
  EXPECT_EQ(code, engine::ErrorCode::unknown_transport);
  EXPECT_FALSE(engine::check_query({{"EIO", "4"}, {"transport", "websocket"}}, false, code));
  EXPECT_EQ(code, engine::ErrorCode::bad_request);
  auto query =
      engine::check_query({{"EIO", "4"}, {"transport", "websocket"}, {"sid", "s"}}, true, code);
  ASSERT_TRUE(query);
  EXPECT_EQ(query->sid, "s");
  EXPECT_EQ(engine::random_id().size(), 20u);
  EXPECT_NE(engine::random_id(), engine::random_id());
}

TEST(SocketIo, DecodesWhatSocketIoClientSends) {
  auto connect = std::get<io::Packet>(io::decode("0/focus,{\"pid\":\"p\",\"offset\":\"focus:3\"}"));
  EXPECT_EQ(connect.type, io::PacketType::connect);
  EXPECT_EQ(connect.nsp, "/focus");
  EXPECT_EQ(connect.data["offset"], "focus:3");

  auto event = std::get<io::Packet>(io::decode("212[\"start\",\"please start the timer\"]"));
  EXPECT_EQ(event.type, io::PacketType::event);
  EXPECT_EQ(event.nsp, "/");
  EXPECT_EQ(event.id, 12u);
  EXPECT_EQ(event.data[1], "please start the timer");

  auto binary =
      std::get<io::Packet>(io::decode("51-/r,[\"start\",{\"_placeholder\":true,\"num\":0}]"));
  EXPECT_EQ(binary.type, io::PacketType::binary_event);
  EXPECT_EQ(binary.attachments, 1);
  EXPECT_EQ(binary.nsp, "/r");

  EXPECT_TRUE(std::holds_alternative<std::string>(io::decode("9")));
  EXPECT_TRUE(std::holds_alternative<std::string>(io::decode("2")));    // no payload
  EXPECT_TRUE(std::holds_alternative<std::string>(io::decode("2[]")));  // no name
  EXPECT_TRUE(std::holds_alternative<std::string>(io::decode("2{\"a\":1}")));
  EXPECT_TRUE(std::holds_alternative<std::string>(io::decode("0[1]")));     // CONNECT data
  EXPECT_TRUE(std::holds_alternative<std::string>(io::decode("2[\"x\"")));  // bad JSON
  EXPECT_TRUE(std::holds_alternative<std::string>(io::decode("5-[\"x\"]")));
}

TEST(SocketIo, EncodesServerPackets) {
  EXPECT_EQ(io::connect("/", "s1", "p1"), R"(40{"sid":"s1","pid":"p1"})");
  EXPECT_EQ(io::connect("/focus", "s1", ""), R"(40/focus,{"sid":"s1"})");
  EXPECT_EQ(io::connect_error("/a b", "room names", "bad_room"),
            R"(44/a b,{"message":"room names","data":{"code":"bad_room"}})");
  EXPECT_EQ(io::event("/", "timer", R"({"seq":3})", "default:3"),
            R"(42["timer",{"seq":3},"default:3"])");
  EXPECT_EQ(io::event("/r", "timer", R"({"success":false})"),
            R"(42/r,["timer",{"success":false}])");
  EXPECT_EQ(io::ack("/", 7, R"({"success":true})"), R"(437[{"success":true}])");
  EXPECT_EQ(io::disconnect("/r"), "41/r,");
}

TEST(SocketIo, OneBodyServesEveryNamespace) {
  const std::string body = io::event_body("timer", R"({"seq":3})", "focus:3");
  EXPECT_EQ(body, R"(2["timer",{"seq":3},"focus:3"])");
  EXPECT_EQ(io::with_namespace("/", body), io::event("/", "timer", R"({"seq":3})", "focus:3"));
  EXPECT_EQ(io::with_namespace("/focus", body), R"(42/focus,["timer",{"seq":3},"focus:3"])");
  EXPECT_EQ(io::with_namespace("/r", io::ack_body(7, "null")), "43/r,7[null]");
  EXPECT_EQ(io::with_namespace("/", io::connect_body("s1", "p1")), io::connect("/", "s1", "p1"));
  std::string out = "x";
  io::append_with_namespace(out, "/a", io::connect_body("s", ""));
  EXPECT_EQ(out, R"(x40/a,{"sid":"s"})");
}

TEST(Events, APrivateIdGivesTheSocketItsIdBack) {
  const std::string sid(kIdLength, 's');
  const std::string pid = private_id(sid, std::string(kIdLength, 'k'));
  EXPECT_TRUE(valid_private_id(pid));
  EXPECT_EQ(recovered_socket_id(pid), sid);
  EXPECT_FALSE(recovered_socket_id("short"));                          // another server's
  EXPECT_FALSE(recovered_socket_id(std::string(2 * kIdLength, '!')));  // not url-safe
}

TEST(Events, MapsTheDemosEventsAndTheContractsCommands) {
  auto start = map_event(nlohmann::json::parse(R"(["start","please start the timer"])"));
  ASSERT_EQ(start.kind, EventRequest::Kind::command);
  EXPECT_EQ(nlohmann::json::parse(start.command), nlohmann::json::parse(R"({"type":"start"})"));

  auto configure =
      map_event(nlohmann::json::parse(R"(["configure",{"work_ms":60000,"request_id":"r1"}])"));
  ASSERT_EQ(configure.kind, EventRequest::Kind::command);
  EXPECT_EQ(nlohmann::json::parse(configure.command)["type"], "configure");
  EXPECT_EQ(nlohmann::json::parse(configure.command)["request_id"], "r1");
  EXPECT_EQ(nlohmann::json::parse(configure.request)["request_id"], "r1");

  auto command = map_event(nlohmann::json::parse(R"(["command",{"type":"skip"}])"));
  EXPECT_EQ(nlohmann::json::parse(command.command)["type"], "skip");

  auto mismatch = map_event(nlohmann::json::parse(R"(["start",{"type":"stop"}])"));
  ASSERT_EQ(mismatch.kind, EventRequest::Kind::error);
  EXPECT_EQ(mismatch.error->code, FailureCode::bad_request);
  EXPECT_EQ(nlohmann::json::parse(mismatch.request)["type"], "stop");

  // Which commands exist is the app's business (it answers unknown_command through the
  // sink): any other event name is the command's type.
  auto unknown = map_event(nlohmann::json::parse(R"(["explode"])"));
  ASSERT_EQ(unknown.kind, EventRequest::Kind::command);
  EXPECT_EQ(nlohmann::json::parse(unknown.command), nlohmann::json::parse(R"({"type":"explode"})"));
  EXPECT_EQ(map_event(nlohmann::json::parse(R"(["start",[1]])")).error->code,
            FailureCode::bad_request);
  EXPECT_EQ(map_event(nlohmann::json::parse(R"(["command","x"])")).error->code,
            FailureCode::bad_request);

  auto join = map_event(nlohmann::json::parse(R"(["join","focus"])"));
  ASSERT_EQ(join.kind, EventRequest::Kind::join);
  EXPECT_EQ(join.room, "focus");
  EXPECT_EQ(map_event(nlohmann::json::parse(R"(["join","bad room!"])")).error->code,
            FailureCode::bad_room);
}

TEST(Events, NamespacesAndOffsets) {
  EXPECT_EQ(room_of_namespace("/", "lobby"), "lobby");
  EXPECT_EQ(room_of_namespace("/focus", "lobby"), "focus");
  EXPECT_FALSE(room_of_namespace("/bad room", "lobby"));
  EXPECT_FALSE(room_of_namespace("/a/b", "lobby"));
  EXPECT_EQ(format_offset("focus", 42), "focus:42");
  auto offset = parse_offset("focus:42");
  ASSERT_TRUE(offset);
  EXPECT_EQ(offset->room, "focus");
  EXPECT_EQ(offset->seq, 42u);
  EXPECT_FALSE(parse_offset("focus"));
  EXPECT_FALSE(parse_offset("focus:"));
  EXPECT_FALSE(parse_offset("bad room:1"));
  EXPECT_FALSE(parse_offset("focus:-1"));
  EXPECT_TRUE(valid_private_id("abc-_9"));
  EXPECT_FALSE(valid_private_id("a b"));
}

}  // namespace
}  // namespace tickcast::socketio

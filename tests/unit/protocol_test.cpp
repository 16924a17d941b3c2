#include "tickcast/core/protocol.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace tickcast {
namespace {

ErrorCode code_of(std::string_view text) {
  const auto decoded = decode_command(text);
  EXPECT_FALSE(decoded.command) << text;
  return decoded.error ? decoded.error->code : ErrorCode::overloaded;
}

TEST(Protocol, DecodesEveryCommandType) {
  for (auto [text, type] : {std::pair{"start", CommandType::start},
                            {"stop", CommandType::stop},
                            {"reset", CommandType::reset},
                            {"skip", CommandType::skip}}) {
    const auto decoded =
        decode_command(std::string(R"({"type":")") + text + R"(","request_id":"r1"})");
    ASSERT_TRUE(decoded.command) << text;
    EXPECT_EQ(decoded.command->type, type);
    EXPECT_EQ(decoded.command->request_id, "r1");
  }
  const auto configure = decode_command(R"({"type":"configure","work_ms":60000,"cycles":2})");
  ASSERT_TRUE(configure.command);
  EXPECT_EQ(configure.command->configure.work, Millis(60000));
  EXPECT_EQ(configure.command->configure.cycles, 2);
  EXPECT_FALSE(configure.command->configure.short_break);
}

TEST(Protocol, RejectsEveryMalformedShapeWithTheRightCode) {
  EXPECT_EQ(code_of(""), ErrorCode::bad_request);
  EXPECT_EQ(code_of("{"), ErrorCode::bad_request);
  EXPECT_EQ(code_of("not json"), ErrorCode::bad_request);
  EXPECT_EQ(code_of("[]"), ErrorCode::bad_request);
  EXPECT_EQ(code_of("\"start\""), ErrorCode::bad_request);
  EXPECT_EQ(code_of("42"), ErrorCode::bad_request);
  EXPECT_EQ(code_of("null"), ErrorCode::bad_request);
  EXPECT_EQ(code_of("{}"), ErrorCode::bad_request);
  EXPECT_EQ(code_of(R"({"type":42})"), ErrorCode::bad_request);
  EXPECT_EQ(code_of(R"({"type":null})"), ErrorCode::bad_request);
  EXPECT_EQ(code_of(R"({"type":["start"]})"), ErrorCode::bad_request);
  EXPECT_EQ(code_of(R"({"type":"explode"})"), ErrorCode::unknown_command);
  EXPECT_EQ(code_of(R"({"type":"START"})"), ErrorCode::unknown_command);
  EXPECT_EQ(code_of(R"({"type":"start","request_id":{}})"), ErrorCode::bad_request);
  EXPECT_EQ(code_of(R"({"type":"start","request_id":")" + std::string(200, 'x') + "\"}"),
            ErrorCode::bad_request);
  EXPECT_EQ(code_of(R"({"type":"configure"})"), ErrorCode::bad_request);
  EXPECT_EQ(code_of(R"({"type":"configure","work_ms":"60000"})"), ErrorCode::bad_request);
  EXPECT_EQ(code_of(R"({"type":"configure","work_ms":1.5})"), ErrorCode::bad_request);
  EXPECT_EQ(code_of(R"({"type":"configure","work_ms":true})"), ErrorCode::bad_request);
  EXPECT_EQ(code_of(R"({"type":"configure","work_ms":-1})"), ErrorCode::bad_request);
  EXPECT_EQ(code_of(R"({"type":"configure","work_ms":99})"), ErrorCode::bad_request);
  EXPECT_EQ(code_of(R"({"type":"configure","work_ms":1e30})"), ErrorCode::bad_request);
  EXPECT_EQ(code_of(R"({"type":"configure","work_ms":99999999999999999999})"),
            ErrorCode::bad_request);
  EXPECT_EQ(code_of(R"({"type":"configure","cycles":0})"), ErrorCode::bad_request);
  EXPECT_EQ(code_of(R"({"type":"configure","cycles":101})"), ErrorCode::bad_request);
  EXPECT_EQ(code_of("{\"type\":\"st\xff\xfe\"}"), ErrorCode::bad_request);
  EXPECT_EQ(code_of(R"({"type":"start","pad":")" + std::string(5000, 'x') + "\"}"),
            ErrorCode::too_large);
}

TEST(Protocol, KeepsTheRequestIdOnErrors) {
  const auto decoded = decode_command(R"({"type":"nope","request_id":"abc"})");
  ASSERT_TRUE(decoded.error);
  EXPECT_EQ(decoded.request_id, "abc");
  const auto reply = nlohmann::json::parse(encode_error(*decoded.error, decoded.request_id));
  EXPECT_EQ(reply["success"], false);
  EXPECT_EQ(reply["code"], "unknown_command");
  EXPECT_EQ(reply["request_id"], "abc");
  EXPECT_TRUE(reply["data"].is_null());
}

TEST(Protocol, EncodesEventsInTheContractShape) {
  TimerEvent event{Reason::tick,
                   TimerState{Phase::work, true, Millis(1'499'000), Millis(1'500'000), 0}};
  const std::string text = encode_event("focus", 42, event, 1764000000000000);
  EXPECT_EQ(text.rfind(R"({"event":"timer","success":true,"data":"00:24:59","error":null,)", 0), 0u)
      << text;
  const auto j = nlohmann::json::parse(text);
  EXPECT_EQ(j["room"], "focus");
  EXPECT_EQ(j["seq"], 42);
  EXPECT_EQ(j["reason"], "tick");
  EXPECT_EQ(j["state"]["phase"], "work");
  EXPECT_EQ(j["state"]["running"], true);
  EXPECT_EQ(j["state"]["remaining_ms"], 1499000);
  EXPECT_EQ(j["state"]["duration_ms"], 1500000);
  EXPECT_EQ(j["state"]["completed_work"], 0);
  EXPECT_EQ(j["server_time_us"], 1764000000000000);
}

TEST(Protocol, ValidatesRoomNames) {
  EXPECT_TRUE(valid_room_name("focus"));
  EXPECT_TRUE(valid_room_name("A-z_09"));
  EXPECT_TRUE(valid_room_name(std::string(64, 'a')));
  EXPECT_FALSE(valid_room_name(std::string(65, 'a')));
  EXPECT_FALSE(valid_room_name(""));
  EXPECT_FALSE(valid_room_name("a b"));
  EXPECT_FALSE(valid_room_name("a/b"));
  EXPECT_FALSE(valid_room_name(".."));
  EXPECT_FALSE(valid_room_name("caf\xc3\xa9"));
}

}  // namespace
}  // namespace tickcast

namespace tickcast {
namespace {

// The app's FailureEncoder: a transport-level failure in the contract's error event, with
// the request_id of the command that caused it.
TEST(Protocol, EncodeFailureIsTheContractsErrorEventWithTheRequestId) {
  const auto j = nlohmann::json::parse(
      encode_failure({FailureCode::rate_limited, "too many commands; slow down"},
                     R"({"type":"start","request_id":"r9"})"));
  EXPECT_EQ(j["event"], "timer");
  EXPECT_EQ(j["success"], false);
  EXPECT_TRUE(j["data"].is_null());
  EXPECT_EQ(j["code"], "rate_limited");
  EXPECT_EQ(j["error"], "too many commands; slow down");
  EXPECT_EQ(j["request_id"], "r9");
  EXPECT_EQ(nlohmann::json::parse(encode_failure({FailureCode::slow, "x"}))["code"], "overloaded");
}

}  // namespace
}  // namespace tickcast

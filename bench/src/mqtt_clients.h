#pragma once
// The bench's MQTT subscribers (libmosquitto on the bench's epoll loop), in this process or
// spread over child processes of tickcast-bench: libmosquitto keeps a socketpair per client
// besides its socket, so 10,000 subscribers need about 30,000 descriptors, more than one
// process may hold here.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "client_set.h"

namespace tickcast::bench {

/// MqttForward, when set, receives what the subscribers see instead of their Recorder: a
/// child process forwards it to the bench. `client` is the index within this set. `flush`
/// is called at the end of each round of the clients' loop, so what one round saw can go in
/// one send.
/// Threads: called on the clients' loop thread.
struct MqttForward {
  std::function<void(std::size_t client)> ready;
  std::function<void(std::size_t client, std::string_view payload, std::int64_t received_us)>
      message;
  std::function<void(std::size_t client, const std::string& why)> failed;
  std::function<void()> flush;
};

/// make_mqtt_clients creates `n` subscribers in this process; with `forward` set, what they
/// see goes there (their recorder() stays empty).
std::unique_ptr<ClientSet> make_mqtt_clients(const Endpoint& endpoint, std::size_t n,
                                             MqttForward forward = {});

/// make_mqtt_process_clients creates `n` subscribers spread over `processes` child
/// processes (`self_path --mqtt-child ...`), about n / processes each. Every child forwards
/// each subscription, message (with the receipt time it stamped) and failure to this
/// process, which records them in recorder() exactly as the in-process clients do: the
/// latency samples, lost/duplicated counts and connect times are the children's own, not
/// estimates. Commands are published by child 0's client 0.
std::unique_ptr<ClientSet> make_mqtt_process_clients(const Endpoint& endpoint, std::size_t n,
                                                     std::size_t processes,
                                                     const std::string& self_path);

/// mqtt_processes is how many child processes `n` mqtt clients use with at most
/// `per_process` each: 0 (all in this process) when per_process is 0 or n fits in one.
std::size_t mqtt_processes(std::size_t n, std::size_t per_process);

/// run_mqtt_child is the hidden `--mqtt-child FD HOST PORT ROOM N IN_FLIGHT` mode of
/// tickcast-bench: N subscribers forwarding to the bench over descriptor FD until it closes.
int run_mqtt_child(int argc, char** argv);

}  // namespace tickcast::bench

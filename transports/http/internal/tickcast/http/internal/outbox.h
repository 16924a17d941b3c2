#pragma once
// Moved to the transport layer (tickcast/transport/outbox.h); kept for older includes.
#include "tickcast/transport/outbox.h"

namespace tickcast::http::internal {
using tickcast::Outbox;
}  // namespace tickcast::http::internal

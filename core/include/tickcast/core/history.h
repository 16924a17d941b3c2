#pragma once
// Moved to the transport layer (tickcast::transport); kept so that older includes work.
#include "tickcast/transport/history.h"

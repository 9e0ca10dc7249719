// properties: implementation pending.
#include "protocol/properties.h"

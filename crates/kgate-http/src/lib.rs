//! What every kgate face shares: error responses, request limits, serving with shutdown.

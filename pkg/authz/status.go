package authz

// HTTP statuses of decisions. pkg/authz imports no transport, so the few it
// uses are named here; the values are those of net/http's StatusXxx.
const (
	StatusOK                  = 200
	StatusFound               = 302 // a flush or cookie hop to the same URL
	StatusBadRequest          = 400
	StatusUnauthorized        = 401
	StatusForbidden           = 403
	StatusTooManyRequests     = 429 // a registration over auto_register_rate
	StatusInternalServerError = 500
	StatusServiceUnavailable  = 503
)

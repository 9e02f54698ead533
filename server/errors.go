package server

import (
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"github.com/nudgehq/nudge/auth"
	"github.com/nudgehq/nudge/chat"
	"github.com/nudgehq/nudge/ops"
	"github.com/nudgehq/nudge/store"
	"github.com/nudgehq/nudge/strictjson"
)

// apiError is an answer other than success: rendered by errorHandler as
// {"error":{"code","message","field"}}.
type apiError struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
	// Details lists every problem when there are several (a rule's nodes).
	Details any `json:"details,omitempty"`
}

func (e *apiError) Error() string { return e.Message }

func errBadRequest(code, msg, field string) *apiError {
	return &apiError{Status: fiber.StatusBadRequest, Code: code, Message: msg, Field: field}
}

var (
	errUnauthenticated = &apiError{Status: fiber.StatusUnauthorized, Code: "unauthenticated", Message: "log in or send a valid bearer token"}
	errForbidden       = &apiError{Status: fiber.StatusForbidden, Code: "forbidden", Message: "your role may not do this"}
	errNotFound        = &apiError{Status: fiber.StatusNotFound, Code: "not_found", Message: "no such resource"}
)

// errorHandler renders every error a handler or middleware returns, and the
// ones fasthttp raises itself (oversized bodies), in the one error body.
func (s *Server) errorHandler(c *fiber.Ctx, err error) error {
	var ae *apiError
	var fe *store.FieldError
	var fbe *fiber.Error
	var rl *auth.RateLimitedError
	switch {
	case errors.As(err, &ae):
	case errors.As(err, &fe):
		ae = &apiError{Status: fiber.StatusUnprocessableEntity, Code: "invalid", Message: fieldSentence(fe.Field, fe.Message), Field: fe.Field}
	case errors.Is(err, store.ErrNotFound), errors.Is(err, chat.ErrNotFound), errors.Is(err, chat.ErrForbidden):
		// A conversation that is not yours is as absent as another tenant's.
		ae = errNotFound
	case errors.Is(err, chat.ErrInvalid):
		ae = &apiError{Status: fiber.StatusUnprocessableEntity, Code: "invalid", Message: chat.Explain(err)}
	case store.Unavailable(err):
		// PostgreSQL is down or restarting: nothing was written; the
		// request can be made again in a moment.
		c.Set(fiber.HeaderRetryAfter, "5")
		ae = &apiError{Status: fiber.StatusServiceUnavailable, Code: "database_unavailable",
			Message: "the database is not answering: nothing was changed; try again in a moment"}
	case errors.Is(err, ops.ErrMoving), errors.Is(err, chat.ErrElsewhere):
		c.Set(fiber.HeaderRetryAfter, "1")
		ae = &apiError{Status: fiber.StatusServiceUnavailable, Code: "moving", Message: ops.ErrMoving.Error()}
	case errors.Is(err, chat.ErrState):
		ae = &apiError{Status: fiber.StatusConflict, Code: "state", Message: chat.Explain(err)}
	case errors.Is(err, store.ErrInvitation):
		ae = &apiError{Status: fiber.StatusNotFound, Code: "invitation_invalid", Message: store.ErrInvitation.Error()}
	case errors.Is(err, store.ErrInvitationEmail):
		ae = &apiError{Status: fiber.StatusForbidden, Code: "wrong_account", Message: store.ErrInvitationEmail.Error() + ": log in with the invited address"}
	case errors.Is(err, store.ErrAlreadyMember):
		ae = &apiError{Status: fiber.StatusConflict, Code: "already_member", Message: store.ErrAlreadyMember.Error()}
	case errors.Is(err, store.ErrConflict):
		ae = &apiError{Status: fiber.StatusConflict, Code: "conflict", Message: "already exists"}
	case errors.Is(err, store.ErrLastOwner):
		// The sentinel's words: the wrapping names ids a person cannot read.
		ae = &apiError{Status: fiber.StatusForbidden, Code: "forbidden", Message: "A tenant keeps at least one owner: make someone else owner first."}
	case errors.Is(err, auth.ErrEscalation):
		ae = &apiError{Status: fiber.StatusForbidden, Code: "forbidden", Message: "Only an owner may grant, change or remove the owner role."}
	case errors.Is(err, auth.ErrBadCredentials):
		ae = &apiError{Status: fiber.StatusUnauthorized, Code: "bad_credentials", Message: err.Error()}
	case errors.As(err, &rl):
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(int(rl.RetryAfter.Round(time.Second)/time.Second)+1))
		ae = &apiError{Status: fiber.StatusTooManyRequests, Code: "rate_limited", Message: rl.Error()}
	case errors.As(err, &fbe):
		ae = &apiError{Status: fbe.Code, Code: codeForStatus(fbe.Code), Message: fbe.Message}
	default:
		s.log.Error("request failed", "request_id", requestID(c), "method", c.Method(), "path", c.Path(), "err", err)
		// A sentence for the person; the request's id is in the log line above
		// and in the response's X-Request-ID header, for whoever looks into it.
		ae = &apiError{Status: fiber.StatusInternalServerError, Code: "internal",
			Message: "Something went wrong on the server: try again. If it happens again, your administrator finds the cause in the server's log."}
	}
	c.Status(ae.Status)
	return c.JSON(fiber.Map{"error": ae})
}

// fieldSentence is a field's problem as a person reads it, the field named by
// its label ("config.offer_timeout" is "Offer timeout"); the path stays in
// the error's field for programs.
func fieldSentence(field, msg string) string {
	label := field[strings.LastIndex(field, ".")+1:]
	if i := strings.IndexByte(label, '['); i > 0 {
		label = label[:i]
	}
	label = strings.ReplaceAll(label, "_", " ")
	if label != "" {
		label = strings.ToUpper(label[:1]) + label[1:] + ": "
	}
	if msg != "" && !strings.HasSuffix(msg, ".") {
		msg += "."
	}
	return label + msg
}

func codeForStatus(status int) string {
	switch status {
	case fiber.StatusNotFound:
		return "not_found"
	case fiber.StatusMethodNotAllowed:
		return "method_not_allowed"
	case fiber.StatusRequestEntityTooLarge:
		return "too_large"
	case fiber.StatusUnsupportedMediaType:
		return "unsupported_media_type"
	case fiber.StatusTooManyRequests:
		return "rate_limited"
	case fiber.StatusServiceUnavailable:
		return "unavailable"
	}
	if status < 500 {
		return "bad_request"
	}
	return "internal"
}

// decodeJSON reads the request body into v by the one JSON policy
// (strictjson): JSON content type, one object in valid UTF-8, no unknown,
// repeated or differently cased field, no NUL or lone surrogate, nothing
// after the value.
func decodeJSON(c *fiber.Ctx, v any) error {
	ct := strings.ToLower(strings.TrimSpace(strings.Split(c.Get(fiber.HeaderContentType), ";")[0]))
	if ct != fiber.MIMEApplicationJSON {
		return &apiError{Status: fiber.StatusUnsupportedMediaType, Code: "unsupported_media_type", Message: "send Content-Type: application/json"}
	}
	body := c.Body()
	if !utf8.Valid(body) {
		return errBadRequest("invalid_utf8", "the body is not valid UTF-8", "")
	}
	if err := strictjson.Decode(body, v); err != nil {
		return jsonError(err)
	}
	return nil
}

// jsonError renders a body the JSON policy refused: 400 naming the field.
func jsonError(err error) error {
	var je *strictjson.Error
	if !errors.As(err, &je) {
		return errBadRequest("invalid_json", "malformed JSON", "")
	}
	switch {
	case je.Unknown:
		return errBadRequest("unknown_field", "unknown field "+je.Field, je.Field)
	case je.Field != "":
		return errBadRequest("invalid_json", je.Field+" "+je.Message, je.Field)
	}
	return errBadRequest("invalid_json", je.Message, "")
}

// listPage reads ?limit= and ?cursor=.
func listPage(c *fiber.Ctx) (store.Page, error) {
	p := store.Page{Limit: 50, After: c.Query("cursor")}
	if l := c.Query("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 200 {
			return p, errBadRequest("invalid_query", "limit must be 1 to 200", "limit")
		}
		p.Limit = n
	}
	if len(p.After) > 64 {
		return p, errBadRequest("invalid_query", "cursor is malformed", "cursor")
	}
	p.After = strings.Clone(p.After)
	return p, nil
}

// list renders one page: {"items": [...], "next_cursor": "..."}.
func list[T any](c *fiber.Ctx, items []T, next string) error {
	if items == nil {
		items = []T{}
	}
	return c.JSON(fiber.Map{"items": items, "next_cursor": next})
}

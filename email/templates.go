package email

import (
	htmltemplate "html/template"
	"strings"
	"text/template"
	"time"
)

// Every email is plain text plus the same in HTML: the HTML template
// escapes what it is given (a visitor's words, names), so no one writes
// markup into nudge's mail.

// Line is one message of a transcript.
type Line struct {
	At   time.Time
	Who  string
	Text string
}

// TranscriptData is a chat as its visitor gets it by email.
type TranscriptData struct {
	Site  string // the site's name
	Start time.Time
	Lines []Line
}

// LeftMessage is a message a visitor left on the offline form.
type LeftMessage struct {
	Site, Queue string
	Name, Email string // as the visitor typed them (Email: a checked address or "")
	Text        string
	At          time.Time
	Page        string // the page the visitor was on
	Link        string // the conversation in the console
}

// MissedChat is a chat that ended before an agent answered it.
type MissedChat struct {
	Site, Queue string
	Visitor     string // their name if they gave one
	Waited      time.Duration
	At          time.Time
	First       string // the visitor's first message, if any
	Link        string
}

var textTemplates = template.Must(template.New("").Funcs(template.FuncMap{"clock": clock, "date": date, "indent": indent, "quote": quote}).Parse(`
{{define "transcript"}}Your chat with {{.Site}} on {{date .Start}}

{{range .Lines}}[{{clock .At}}] {{.Who}}:
{{indent .Text}}

{{end}}This copy was sent because you asked for it at the end of the chat.
{{end}}
{{define "offline"}}{{if .Name}}{{.Name}}{{else}}A visitor{{end}} left a message on {{.Site}}{{if .Queue}} for {{.Queue}}{{end}} at {{date .At}} {{clock .At}} UTC:

{{indent .Text}}

{{if .Email}}Reply to: {{.Email}}
{{else}}The visitor left no email address.
{{end}}{{if .Page}}Page: {{.Page}}
{{end}}{{if .Link}}In nudge: {{.Link}}
{{end}}{{end}}
{{define "missed"}}A chat on {{.Site}}{{if .Queue}} ({{.Queue}}){{end}} ended before anyone answered it.

Visitor: {{if .Visitor}}{{.Visitor}}{{else}}not named{{end}}
Waited: {{.Waited}}
Ended: {{date .At}} {{clock .At}} UTC
{{if .First}}
They wrote:
{{indent .First}}
{{end}}{{if .Link}}
In nudge: {{.Link}}
{{end}}{{end}}
{{define "reply"}}{{.Text}}

{{if .By}}{{.By}}, {{end}}{{.Site}}
{{if .Original}}
You wrote:
{{quote .Original}}
{{end}}{{end}}
{{define "test"}}This is a test email from nudge for {{.}}.

If it reached you, nudge can send this account's mail: transcripts, messages left on the offline form and missed-chat notices.
{{end}}`))

var htmlTemplates = htmltemplate.Must(htmltemplate.New("").Funcs(htmltemplate.FuncMap{"clock": clock, "date": date}).Parse(`
{{define "top"}}<!doctype html><html><body style="font-family: system-ui, sans-serif; line-height: 1.45; color: #1b1f24; max-width: 40em">{{end}}
{{define "bottom"}}</body></html>{{end}}
{{define "transcript"}}{{template "top"}}<h2 style="font-size: 1.1em">Your chat with {{.Site}} on {{date .Start}}</h2>
{{range .Lines}}<p style="margin: 0 0 .8em"><small style="color: #57606a">{{clock .At}}</small> <b>{{.Who}}</b><br><span style="white-space: pre-wrap">{{.Text}}</span></p>
{{end}}<p style="color: #57606a; font-size: .9em">This copy was sent because you asked for it at the end of the chat.</p>{{template "bottom"}}{{end}}
{{define "offline"}}{{template "top"}}<p>{{if .Name}}<b>{{.Name}}</b>{{else}}A visitor{{end}} left a message on {{.Site}}{{if .Queue}} for {{.Queue}}{{end}} at {{date .At}} {{clock .At}} UTC:</p>
<blockquote style="white-space: pre-wrap; border-left: 3px solid #d0d7de; margin: 0; padding-left: 1em">{{.Text}}</blockquote>
<p>{{if .Email}}Reply to: <a href="mailto:{{.Email}}">{{.Email}}</a>{{else}}The visitor left no email address.{{end}}{{if .Page}}<br>Page: {{.Page}}{{end}}</p>
{{if .Link}}<p><a href="{{.Link}}">Open it in nudge</a></p>{{end}}{{template "bottom"}}{{end}}
{{define "missed"}}{{template "top"}}<p>A chat on {{.Site}}{{if .Queue}} ({{.Queue}}){{end}} ended before anyone answered it.</p>
<p>Visitor: {{if .Visitor}}{{.Visitor}}{{else}}not named{{end}}<br>Waited: {{.Waited}}<br>Ended: {{date .At}} {{clock .At}} UTC</p>
{{if .First}}<p>They wrote:</p><blockquote style="white-space: pre-wrap; border-left: 3px solid #d0d7de; margin: 0; padding-left: 1em">{{.First}}</blockquote>{{end}}
{{if .Link}}<p><a href="{{.Link}}">Open it in nudge</a></p>{{end}}{{template "bottom"}}{{end}}
{{define "reply"}}{{template "top"}}<p style="white-space: pre-wrap">{{.Text}}</p>
<p>{{if .By}}{{.By}}, {{end}}{{.Site}}</p>
{{if .Original}}<p style="color: #57606a">You wrote:</p><blockquote style="white-space: pre-wrap; color: #57606a; border-left: 3px solid #d0d7de; margin: 0; padding-left: 1em">{{.Original}}</blockquote>{{end}}{{template "bottom"}}{{end}}
{{define "test"}}{{template "top"}}<p>This is a test email from nudge for {{.}}.</p><p>If it reached you, nudge can send this account's mail: transcripts, messages left on the offline form and missed-chat notices.</p>{{template "bottom"}}{{end}}`))

func clock(t time.Time) string { return t.UTC().Format("15:04") }
func date(t time.Time) string  { return t.UTC().Format("2 January 2006") }

// indent sets a message's lines off from the transcript's own.
func indent(s string) string {
	return "  " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n  ")
}

// quote marks a message's lines as quoted, as mail clients do.
func quote(s string) string {
	return "> " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n> ")
}

func render(name string, data any) (text, html string) {
	var t, h strings.Builder
	if err := textTemplates.ExecuteTemplate(&t, name, data); err != nil {
		panic(err) // the templates are ours and their data typed: a failure is a bug
	}
	if err := htmlTemplates.ExecuteTemplate(&h, name, data); err != nil {
		panic(err)
	}
	return strings.TrimLeft(t.String(), "\n"), h.String()
}

// Transcript is the email of a chat's transcript.
func Transcript(d TranscriptData) Message {
	text, html := render("transcript", d)
	return Message{Subject: "Your chat with " + OneLine(d.Site, 120), Text: text, HTML: html}
}

// Offline is the email of a message left on the offline form, with the
// visitor's address to reply to.
func Offline(d LeftMessage) Message {
	text, html := render("offline", d)
	who := d.Name
	if who == "" {
		who = "a visitor"
	}
	m := Message{Subject: OneLine("Message from "+who+" on "+d.Site, 200), Text: text, HTML: html}
	if Address(d.Email) {
		m.ReplyTo = d.Email
	}
	return m
}

// Missed is the notice of a chat nobody answered.
func Missed(d MissedChat) Message {
	d.Waited = d.Waited.Round(time.Second)
	text, html := render("missed", d)
	return Message{Subject: OneLine("Missed chat on "+d.Site, 200), Text: text, HTML: html}
}

// ReplyData is an agent's answer to a message left on the offline form.
type ReplyData struct {
	Site     string
	Text     string // the answer
	By       string // the agent's name
	Original string // what the visitor wrote
}

// Reply is the email that answers a left message.
func Reply(d ReplyData) Message {
	text, html := render("reply", d)
	return Message{Subject: OneLine("Re: your message to "+d.Site, 200), Text: text, HTML: html}
}

// Test is the email of the "send test mail" button.
func Test(account string) Message {
	text, html := render("test", account)
	return Message{Subject: "Test email from nudge", Text: text, HTML: html}
}

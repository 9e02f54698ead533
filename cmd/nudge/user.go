package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/nudgehq/nudge/auth"
	"github.com/nudgehq/nudge/ops"
	"github.com/nudgehq/nudge/server"
	"github.com/nudgehq/nudge/store"
)

func user(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, "usage: nudge user create|set-password|list [flags]\n")
		return errUsage
	}
	ctx := context.Background()
	fs := flag.NewFlagSet("nudge user "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	db := ops.Config{DataDir: server.DefaultConfig().DataDir}
	fs.StringVar(&db.DataDir, "data", db.DataDir, "data folder ("+envName("data")+")")
	databaseFlags(fs, &db)
	var email, name, password, tenant, role string
	switch args[0] {
	case "create":
		fs.StringVar(&email, "email", "", "email, the login name")
		fs.StringVar(&name, "name", "", "display name")
		fs.StringVar(&password, "password", "", "password; prefer NUDGE_PASSWORD or NUDGE_PASSWORD_FILE")
		fs.StringVar(&tenant, "tenant", "", "tenant id or name; a new name creates the tenant")
		fs.StringVar(&role, "role", auth.RoleOwner, "role in the tenant: "+strings.Join(auth.Roles, ", "))
	case "set-password":
		fs.StringVar(&email, "email", "", "email of the user")
		fs.StringVar(&password, "password", "", "new password; prefer NUDGE_PASSWORD or NUDGE_PASSWORD_FILE")
	case "list":
	default:
		fmt.Fprintf(stderr, "nudge user: unknown command %q\n", args[0])
		return errUsage
	}
	if err := parse(fs, args[1:], os.Getenv); err != nil {
		return err
	}
	if args[0] != "list" && (email == "" || password == "") {
		fmt.Fprintln(stderr, "nudge user "+args[0]+": --email and a password are required")
		return errUsage
	}
	if err := db.CheckDatabase(); err != nil {
		return err
	}
	st, err := store.Open(ctx, db.DatabasePath())
	if err != nil {
		return err
	}
	defer st.Close()
	a, err := auth.New(ctx, st, auth.Options{})
	if err != nil {
		return err
	}
	switch args[0] {
	case "create":
		tenantID := ""
		if tenant != "" {
			if tenantID, err = findOrCreateTenant(ctx, st, tenant, stdout); err != nil {
				return err
			}
		}
		u, err := a.CreateUser(ctx, store.System, tenantID, auth.NewUser{Email: email, Name: name, Password: password, Role: role})
		if err != nil {
			return explain(err)
		}
		fmt.Fprintf(stdout, "created user %s (%s)\n", u.Email, u.ID)
	case "set-password":
		u, err := st.UserByEmail(ctx, email)
		if err != nil {
			return explain(err)
		}
		if err := a.SetPassword(ctx, store.System, u.ID, password, ""); err != nil {
			return explain(err)
		}
		fmt.Fprintf(stdout, "password of %s set; its sessions ended\n", u.Email)
	case "list":
		users, ms, err := st.Users(ctx)
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "EMAIL\tID\tROLES")
		for _, u := range users {
			var roles []string
			for _, m := range ms[u.ID] {
				roles = append(roles, fmt.Sprintf("%s@%s", m.Role, m.TenantName))
			}
			fmt.Fprintf(w, "%s\t%s\t%s\n", u.Email, u.ID, strings.Join(roles, ", "))
		}
		return w.Flush()
	}
	return nil
}

// findOrCreateTenant resolves a tenant id or name; an unknown name is created.
func findOrCreateTenant(ctx context.Context, st *store.Store, ref string, out io.Writer) (string, error) {
	ts, err := st.Tenants(ctx)
	if err != nil {
		return "", err
	}
	var match []store.Tenant
	for _, t := range ts {
		if t.ID == ref || strings.EqualFold(t.Name, ref) {
			match = append(match, t)
		}
	}
	switch len(match) {
	case 1:
		return match[0].ID, nil
	case 0:
		t, err := st.CreateTenant(ctx, store.System, ref)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(out, "created tenant %q (%s)\n", t.Name, t.ID)
		return t.ID, nil
	default:
		return "", fmt.Errorf("%d tenants are named %q: give the id", len(match), ref)
	}
}

// explain turns domain errors into command-line sentences.
func explain(err error) error {
	var fe *store.FieldError
	switch {
	case errors.As(err, &fe):
		return fmt.Errorf("%s %s", fe.Field, fe.Message)
	case errors.Is(err, store.ErrConflict):
		return errors.New("a user with this email exists")
	case errors.Is(err, store.ErrNotFound):
		return errors.New("no such user")
	}
	return err
}

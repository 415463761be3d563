package cronjob_test

import (
	"context"
	"fmt"
	"time"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/controller"
	"github.com/gantryhq/gantry/controller/controllertest"
	"github.com/gantryhq/gantry/controller/cronjob"
)

func ExampleNew() {
	s, _ := controllertest.New(context.Background(), apiserver.Options{})
	defer s.Close()
	m, _ := controller.NewManager(controller.ManagerOptions{Client: s.Client})
	_ = cronjob.Register(m) // cronjob.New builds the controller from informers by hand
	fmt.Println(m.EnabledNames())
	// Output: [cronjob]
}

func ExampleMissedSince() {
	s, _ := cronjob.ParseSchedule("*/15 * * * *", nil, time.UTC)
	last := time.Date(2025, 1, 1, 10, 0, 0, 0, time.UTC)
	m := cronjob.MissedSince(s, last, last.Add(time.Hour+5*time.Minute))
	fmt.Println(m.Last.Format(time.Kitchen), m.Count, cronjob.JobName("report", m.Last))
	// Output: 11:00AM 4 report-28928820
}

// Package cronjob holds the CronJob controller: at each time of a cron
// job's schedule (in spec.timeZone, or the controller's local time) it
// creates a Job from spec.jobTemplate named <cronjob>-<scheduled time in
// minutes since the epoch>, controlled by the cron job and annotated with
// batch.kubernetes.io/cronjob-scheduled-timestamp.
//
// When schedule times were missed (the controller was down, or the cron
// job suspended) only the most recent one runs, and not if it is older
// than startingDeadlineSeconds (a MissSchedule event); more than 100
// missed times also give a TooManyMissedTimes warning. concurrencyPolicy
// Allow runs Jobs side by side, Forbid skips a time while a Job still runs
// (JobAlreadyActive), Replace deletes the running Jobs first. suspend stops
// new runs. The status lists the running Jobs (active), lastScheduleTime and
// lastSuccessfulTime; finished Jobs beyond successfulJobsHistoryLimit and
// failedJobsHistoryLimit are deleted, oldest first.
//
// The controller does not poll: after each reconcile it asks to be called
// again at the next schedule time on the injected clock, and Job events
// bring it back in between.
package cronjob

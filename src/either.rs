//! Two forms of one command: its flags, or an alternative that replaces them (`train-student
//! --spec RUN.json`, `sweep report DIR`). clap's `Option<flattened>` cannot express this
//! when the flattened flags flatten others in turn, so [`Unless`] does it by hand.

use std::marker::PhantomData;

use clap::{ArgMatches, Args, Command, FromArgMatches};

/// The alternative form of a command.
pub trait Alternative {
    /// Whether the command line took the alternative form.
    fn taken(matches: &ArgMatches) -> bool;
    /// Makes the flags' required arguments optional when the alternative is taken.
    fn relax(cmd: Command) -> Command {
        cmd
    }
    /// The alternative's name, for the error when flags are given with it.
    const NAME: &'static str;
}

/// `T`'s flags, or `None` when the alternative `A` was taken. Flags of `T` given together
/// with the alternative are refused rather than ignored.
#[derive(Debug)]
pub struct Unless<T, A>(pub Option<T>, PhantomData<A>);

impl<T: Args, A: Alternative> FromArgMatches for Unless<T, A> {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        Self::from_arg_matches_mut(&mut matches.clone())
    }

    fn from_arg_matches_mut(matches: &mut ArgMatches) -> Result<Self, clap::Error> {
        if !A::taken(matches) {
            return T::from_arg_matches_mut(matches).map(|t| Unless(Some(t), PhantomData));
        }
        let flags = T::augment_args(Command::new("flags"));
        for arg in flags.get_arguments() {
            let id = arg.get_id().as_str();
            if matches.value_source(id) == Some(clap::parser::ValueSource::CommandLine) {
                return Err(clap::Error::raw(
                    clap::error::ErrorKind::ArgumentConflict,
                    format!(
                        "--{} cannot be used with {}: the settings come from there\n",
                        arg.get_long().unwrap_or(id),
                        A::NAME
                    ),
                ));
            }
        }
        Ok(Unless(None, PhantomData))
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

impl<T: Args, A: Alternative> Args for Unless<T, A> {
    fn augment_args(cmd: Command) -> Command {
        A::relax(T::augment_args(cmd))
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        A::relax(T::augment_args_for_update(cmd))
    }
}

# A runnable root: the whole InstaShop Analytics stack in one project.
#   cp terraform.tfvars.example terraform.tfvars   # set project_id (and bucket_name: it is global)
#   terraform init && terraform apply

terraform {
  required_version = ">= 1.5"
  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 8.7, < 9.0"
    }
  }
}

variable "project_id" {
  description = "Google Cloud project to deploy into."
  type        = string
}

variable "bucket_name" {
  description = "Globally unique bucket name."
  type        = string
}

variable "location" {
  description = "Location of the dataset and bucket."
  type        = string
  default     = "US"
}

variable "region" {
  description = "Region of the image repository and the worker pool (inside location)."
  type        = string
  default     = "us-central1"
}

variable "worker_image" {
  description = "The pushed image (see the image_repository output); null until then, and no worker pool is created."
  type        = string
  default     = null
}

variable "worker_instances" {
  description = "Stream worker instances."
  type        = number
  default     = 1
}

variable "notification_channels" {
  description = "Cloud Monitoring notification channels for the alerts."
  type        = list(string)
  default     = []
}

variable "deletion_protection" {
  description = "Refuse to delete tables on destroy (set false in terraform.tfvars for a throwaway project)."
  type        = bool
  default     = true
}

provider "google" {
  project = var.project_id
}

module "instashop" {
  source                = "../.."
  project_id            = var.project_id
  bucket_name           = var.bucket_name
  location              = var.location
  region                = var.region
  worker_image          = var.worker_image
  worker_instances      = var.worker_instances
  notification_channels = var.notification_channels
  deletion_protection   = var.deletion_protection
}

output "env" {
  description = "Environment for the binaries."
  value       = module.instashop.env
}

output "service_accounts" {
  description = "One service account per job."
  value       = module.instashop.service_accounts
}

output "looker_studio_url" {
  description = "A Looker Studio report on v_fact_sales_all."
  value       = module.instashop.looker_studio_url
}

output "image_repository" {
  description = "Push the image here, then set worker_image and apply again."
  value       = module.instashop.image_repository
}

output "worker_pool" {
  description = "The stream worker's Cloud Run worker pool."
  value       = module.instashop.worker_pool
}

output "autoscaling" {
  description = "The backlog autoscaler's service account and scaled object."
  value       = module.instashop.autoscaling
}
